package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of a policy document (IAM's own grammar needs four levels).
const maxJSONDepth = 16

// decodeStrictJSON decodes one JSON value, refusing what encoding/json lets pass silently: invalid
// UTF-8 (replaced otherwise), a key given twice in one object (the last one wins otherwise, so a
// reader could see another document than the gateway), deep nesting and trailing data. Numbers stay
// json.Number.
func decodeStrictJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(dec, err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch delim {
	case '{':
		obj := map[string]any{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, jsonError(dec, err)
			}
			key := tok.(string) // the decoder only returns a string in key position
			if _, dup := obj[key]; dup {
				return nil, fmt.Errorf("key %q given twice in one object", key)
			}
			if obj[key], err = decodeValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err = dec.Token() // '}'
		return obj, jsonError(dec, err)
	case '[':
		list := []any{}
		for dec.More() {
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err = dec.Token() // ']'
		return list, jsonError(dec, err)
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}

// jsonError gives a syntax error its position: the byte offset the decoder reached.
func jsonError(dec *json.Decoder, err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed JSON near byte %d: %w", dec.InputOffset(), err)
}
