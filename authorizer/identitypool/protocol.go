package identitypool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/internal/clip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The Cognito Identity API, AWS JSON 1.1: POST, `Content-Type: application/x-amz-json-1.1`,
// `X-Amz-Target: AWSCognitoIdentityService.<Operation>`; errors as `{"__type": ..., "message": ...}` with
// the same type in `X-Amzn-ErrorType`, status 400 for every client error.

const (
	jsonContentType = "application/x-amz-json-1.1"
	targetPrefix    = "AWSCognitoIdentityService."
)

// Error types, as Cognito names them and AWS SDKs parse them.
const (
	errTypeInvalidParameter  = "InvalidParameterException"
	errTypeNotAuthorized     = "NotAuthorizedException"
	errTypeResourceNotFound  = "ResourceNotFoundException"
	errTypeInvalidPoolConfig = "InvalidIdentityPoolConfigurationException"
	errTypeUnknownOperation  = "UnknownOperationException"
	errTypeSerialization     = "SerializationException"
	errTypeInternal          = "InternalErrorException"
)

// apiError is an error answered to the client. msg is for the client and never holds a token or a
// secret; cause is for the log only.
type apiError struct {
	status int
	typ    string
	msg    string
	cause  error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.typ + ": " + e.msg + ": " + e.cause.Error()
	}
	return e.typ + ": " + e.msg
}

func (e *apiError) Unwrap() error { return e.cause }

func clientError(typ string, cause error, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, args...), cause: cause}
}

// ServeHTTP serves the Cognito Identity API (POST) and, on GET, the pool's JSON Web Key Set at
// `.../.well-known/jwks.json` and its OpenID configuration at `.../.well-known/openid-configuration`, at
// whatever path the handler is mounted.
func (p *Pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := formatUUID((*[16]byte)(randomBytes(16)))
	w.Header().Set("X-Amzn-Requestid", requestID)
	switch r.Method {
	case http.MethodPost:
		p.serveAPI(w, r, requestID)
	case http.MethodGet, http.MethodHead:
		p.serveDiscovery(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.writeError(w, "", requestID, &apiError{status: http.StatusMethodNotAllowed, typ: errTypeUnknownOperation,
			msg: fmt.Sprintf("method %s not allowed: the Cognito Identity API takes POST", clip.String(r.Method, 16))})
	}
}

func (p *Pool) serveAPI(w http.ResponseWriter, r *http.Request, requestID string) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok || !knownOperation(op) {
		p.writeError(w, "", requestID, clientError(errTypeUnknownOperation, nil,
			"unknown operation %q: this identity pool serves AWSCognitoIdentityService.GetId, "+
				"GetCredentialsForIdentity and GetOpenIdToken", clip.String(target, 80)))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != jsonContentType {
		p.writeError(w, op, requestID, clientError(errTypeSerialization, nil,
			"content type must be %s", jsonContentType))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes))
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			p.writeError(w, op, requestID, &apiError{status: http.StatusRequestEntityTooLarge, typ: errTypeInvalidParameter,
				msg: fmt.Sprintf("request body exceeds %d bytes", p.cfg.MaxBodyBytes)})
			return
		}
		p.writeError(w, op, requestID, clientError(errTypeSerialization, err, "reading the request body failed"))
		return
	}
	var out any
	switch op {
	case "GetId":
		var in getIDInput
		if err = decodeInput(body, &in); err == nil {
			out, err = p.getID(r.Context(), &in)
		}
	case "GetCredentialsForIdentity":
		var in getCredentialsInput
		if err = decodeInput(body, &in); err == nil {
			out, err = p.getCredentials(r.Context(), &in)
		}
	case "GetOpenIdToken":
		var in getOpenIDTokenInput
		if err = decodeInput(body, &in); err == nil {
			out, err = p.getOpenIDToken(r.Context(), &in)
		}
	}
	if err != nil {
		p.writeError(w, op, requestID, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		p.writeError(w, op, requestID, err)
		return
	}
	if o := p.cfg.Observer; o != nil {
		o.Served(op, "ok")
	}
	h := w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

func knownOperation(op string) bool {
	return op == "GetId" || op == "GetCredentialsForIdentity" || op == "GetOpenIdToken"
}

// decodeInput decodes a request body, answering with messages that name the field but never echo input.
func decodeInput(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return clientError(errTypeSerialization, nil, "malformed JSON at byte %d of the request body", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return clientError(errTypeSerialization, nil, "field %s must be a %s, not a JSON %s", clip.String(typ.Field, 80), jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &typ):
		return clientError(errTypeSerialization, nil, "the request body must be a JSON object, not a JSON %s", typ.Value)
	default:
		return clientError(errTypeSerialization, nil, "malformed JSON request body")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "map", "struct":
		return "JSON object"
	case "slice":
		return "JSON array"
	default:
		return "JSON " + goKind
	}
}

// writeError answers an error. Client errors are logged at debug level, server errors at error level.
func (p *Pool) writeError(w http.ResponseWriter, op, requestID string, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{status: http.StatusInternalServerError, typ: errTypeInternal, msg: "internal error", cause: err}
	}
	level := zapcore.DebugLevel
	if e.status >= 500 {
		level = zapcore.ErrorLevel
	}
	if o := p.cfg.Observer; o != nil {
		o.Served(op, e.typ)
	}
	if c := p.cfg.Logger.Check(level, "identity pool request failed"); c != nil {
		c.Write(zap.String("pool", p.cfg.PoolID), zap.String("operation", op), zap.String("request_id", requestID),
			zap.String("error_type", e.typ), zap.String("message", e.msg), zap.NamedError("cause", e.cause))
	}
	data, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.typ, e.msg})
	h := w.Header()
	h.Set("Content-Type", jsonContentType)
	h.Set("X-Amzn-Errortype", e.typ)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	w.Write(data)
}

// serveDiscovery serves the JWKS and the OpenID configuration.
func (p *Pool) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	var body []byte
	switch {
	case strings.HasSuffix(r.URL.Path, "/.well-known/jwks.json"):
		body = p.cfg.Keys.ring.JWKS(r.Context())
	case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") && p.cfg.Issuer != "":
		body = p.openIDConfiguration()
	default:
		http.Error(w, "not found: the Cognito Identity API takes POST", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Short enough that relying parties see a rotation soon, long enough to spare the pool.
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
