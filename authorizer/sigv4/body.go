package sigv4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
)

const unsignedPayload = "UNSIGNED-PAYLOAD"

// emptySHA256 is the hex SHA-256 of an empty body, the payload hash of most GET requests.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// replayBody is the buffered body handed back to r.Body, so the upstream reads what was hashed.
type replayBody struct {
	data []byte
	bytes.Reader
}

func (*replayBody) Close() error { return nil }

// hashBody reads r.Body (at most limit bytes), puts a replayable copy back in r.Body and returns
// the body's SHA-256. A declared Content-Length over the limit is refused before reading.
func hashBody(r *http.Request, limit int64) ([32]byte, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return sha256.Sum256(nil), nil
	}
	if b, ok := r.Body.(*replayBody); ok && b.Len() == len(b.data) {
		return sha256.Sum256(b.data), nil // already buffered by an earlier Verify, and unread
	}
	if r.ContentLength > limit {
		return [32]byte{}, refuse(ErrBodyTooLarge, "Request Too Long",
			"Content-Length %d is over the limit of %d bytes", r.ContentLength, limit)
	}
	data, err := readLimited(r.Body, r.ContentLength, limit)
	if err != nil {
		return [32]byte{}, err
	}
	b := &replayBody{data: data}
	b.Reset(data)
	r.Body = b
	return sha256.Sum256(data), nil
}

// readLimited reads all of body, refusing more than limit bytes. size is the declared length,
// or -1: the buffer is sized once from it and grown only for bodies of unknown length.
func readLimited(body io.Reader, size, limit int64) ([]byte, *Error) {
	capacity := int64(512)
	if size >= 0 {
		capacity = size + 1 // one spare byte to see EOF without growing
	}
	buf := make([]byte, 0, min(capacity, limit+1))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, refuse(ErrBodyTooLarge, "Request Too Long", "body is over the limit of %d bytes", limit)
			}
			buf = append(buf, 0)[:len(buf)]
			buf = buf[:len(buf):min(int64(cap(buf)), limit+1)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, refuse(ErrBodyTooLarge, "Request Too Long", "body is over the limit of %d bytes", limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, refuse(ErrBodyTooLarge, "Request Too Long", "body is over the server's limit of %d bytes", tooLarge.Limit)
			}
			return nil, refuse(ErrBodyRead, "Bad Request", "%v", err)
		}
	}
}
