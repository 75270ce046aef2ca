package tlsterm

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// Session-ticket key files are in nginx's ssl_session_ticket_key format
// (src/event/ngx_event_openssl.c, ngx_ssl_session_ticket_keys): 80 bytes of
// key name (16), HMAC key (32) and AES-256 key (32), or 48 bytes of key name
// (16), AES-128 key (16) and HMAC key (16). Anything else is refused, as nginx
// refuses it ("must be 48 or 80 bytes").
const (
	ticketKeyLong  = 80
	ticketKeyShort = 48
)

// ticketKeyLabel separates tether's use of a key file's bytes from any other.
const ticketKeyLabel = "tether session ticket key v1\x00"

// ReadTicketKeys reads session-ticket key files and returns the keys for
// tls.Config.SetSessionTicketKeys, in the files' order: the first encrypts new
// tickets, every one decrypts. Each file's whole content (name, AES and HMAC
// keys) is hashed with SHA-256 under a tether label into the 32-byte key Go's
// crypto/tls derives its own AES and HMAC keys from.
//
// Go's ticket format is not OpenSSL's (different cipher mode and sealed
// session encoding), so the same file lets tether processes resume each
// other's sessions but not nginx's: an nginx ticket presented to tether costs
// a full handshake, nothing worse.
func ReadTicketKeys(paths []string) ([][32]byte, error) {
	keys := make([][32]byte, 0, len(paths))
	for _, path := range paths {
		k, err := readTicketKey(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// readTicketKey reads and derives one key file.
func readTicketKey(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, fmt.Errorf("tls: session ticket key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return [32]byte{}, fmt.Errorf("tls: session ticket key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return [32]byte{}, fmt.Errorf("tls: session ticket key %s: not a regular file", path)
	}
	// One byte more than the longest format tells a long file from a full one.
	buf := make([]byte, ticketKeyLong+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return [32]byte{}, fmt.Errorf("tls: session ticket key: %w", err)
	}
	defer clear(buf)
	return ParseTicketKey(path, buf[:n])
}

// ParseTicketKey derives the key of one file's content b, named path in
// errors; b must be 80 or 48 bytes long.
func ParseTicketKey(path string, b []byte) ([32]byte, error) {
	if len(b) != ticketKeyLong && len(b) != ticketKeyShort {
		size := fmt.Sprintf("%d bytes", len(b))
		if len(b) > ticketKeyLong {
			size = "more than 80 bytes"
		}
		return [32]byte{}, fmt.Errorf("tls: session ticket key %s: must be 80 or 48 bytes (as for nginx ssl_session_ticket_key, e.g. `openssl rand 80 > FILE`), is %s", path, size)
	}
	h := sha256.New()
	h.Write([]byte(ticketKeyLabel))
	h.Write(b)
	var k [32]byte
	h.Sum(k[:0])
	return k, nil
}
