package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrModelNotFound is wrapped by Models.Locate errors about an id that
// names no model; the server answers 404 model_not_found.
var ErrModelNotFound = errors.New("model not found")

// Error is an API error in OpenAI's shape, with its HTTP status.
type Error struct {
	Status  int
	Message string
	// Type is "invalid_request_error" for the client's mistakes,
	// "server_error" otherwise.
	Type  string
	Param string // "" is null
	Code  string // "" is null
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func invalid(param, code, format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Code: code, Message: fmt.Sprintf(format, a...)}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// MarshalJSON is e in OpenAI's shape: {"error": {message, type, param,
// code}}, with null for an empty param or code.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(errorBody{errorFields{Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code)}})
}

// WriteError answers with e: its status, Retry-After when set, and its
// JSON. Every OpenAI error of the node goes out through it.
func WriteError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(max(1, int(e.RetryAfter.Round(time.Second)/time.Second))))
	}
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(e)
}
