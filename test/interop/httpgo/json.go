package main

import (
	"bytes"
	"encoding/json"
)

// jsonBytes encodes v without HTML escaping, newline-terminated.
func jsonBytes(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return buf.Bytes(), err
}
