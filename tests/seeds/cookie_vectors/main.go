// Command cookie_vectors writes tests/conformance/sealed/vectors.json: the vectors of
// omnisession's sealed cookie sessions (format v1) and of the seeds' CookieOverseer values.
//
// Why Go: the values are sealed here with Go's crypto/aes and crypto/cipher, independently of
// the Rust core, so the vectors check the core's AES-GCM, associated data and encoding rather
// than restating them. The seeds' values are made exactly as abcsessions' CookieOverseer
// encodes (base64.StdEncoding of nonce || gcm.Seal(plaintext), no associated data), with
// fixed nonces instead of crypto/rand.
//
// Regenerate (no test runs Go; the output is committed):
//
//	go run tests/seeds/cookie_vectors/main.go > tests/conformance/sealed/vectors.json
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
)

const cookieName = "sid"

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return a
}

// aad is omnisession v1's associated data: "omnisession-sealed-v1\0" kid "\0" cookie name.
func aad(kid, name string) []byte {
	return []byte("omnisession-sealed-v1\x00" + kid + "\x00" + name)
}

// sealV1 is omnisession's v1 value: "v1." kid "." base64url(nonce || seal(payload, aad)).
func sealV1(kid string, key, nonce []byte, name, payload string) string {
	ct := gcm(key).Seal(append([]byte{}, nonce...), nonce, []byte(payload), aad(kid, name))
	return "v1." + kid + "." + base64.RawURLEncoding.EncodeToString(ct)
}

// sealSeeds is CookieOverseer.encode with a fixed nonce.
func sealSeeds(key, nonce []byte, plaintext string) string {
	ct := gcm(key).Seal(append([]byte{}, nonce...), nonce, []byte(plaintext), nil)
	return base64.StdEncoding.EncodeToString(ct)
}

// flip changes the character at i of s to another character of the same alphabet.
func flip(s string, i int) string {
	c := s[i]
	r := byte('A')
	if c == 'A' {
		r = 'B'
	}
	return s[:i] + string(r) + s[i+1:]
}

type raw = json.RawMessage

type sealCase struct {
	Name    string `json:"name"`
	Key     string `json:"key"`
	Nonce   string `json:"nonce"`
	Session raw    `json:"session"`
	Payload string `json:"payload"`
	Value   string `json:"value"`
}

type openCase struct {
	Name           string   `json:"name"`
	Ring           []string `json:"ring"`
	CookieName     string   `json:"cookie_name"`
	MaxCookieBytes int      `json:"max_cookie_bytes"`
	Value          string   `json:"value"`
	Now            string   `json:"now"`
	Expect         raw      `json:"expect"`
}

type seedsCase struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Nonce     string `json:"nonce,omitempty"`
	Plaintext string `json:"plaintext,omitempty"`
	Value     string `json:"value"`
	Expect    raw    `json:"expect"`
}

type v1Section struct {
	CookieName     string            `json:"cookie_name"`
	MaxCookieBytes int               `json:"max_cookie_bytes"`
	Keys           map[string]string `json:"keys"`
	Seal           []sealCase        `json:"seal"`
	Open           []openCase        `json:"open"`
}

type seedsSection struct {
	Keys map[string]string `json:"keys"`
	Open []seedsCase       `json:"open"`
}

type file struct {
	Comment []string     `json:"comment"`
	V1      v1Section    `json:"v1"`
	Seeds   seedsSection `json:"seeds"`
}

func reason(r string) raw { return raw(`{"reason":"` + r + `"}`) }

func main() {
	keys := map[string][]byte{"k1": seq(0x00, 32), "k2": seq(0x20, 32), "old": seq(0x40, 32)}
	hexKeys := map[string]string{}
	for k, v := range keys {
		hexKeys[k] = hex.EncodeToString(v)
	}

	type input struct {
		name, kid, session, payload string
		nonce                       []byte
	}
	inputs := []input{
		{"anonymous-empty", "k1",
			`{"user_id":null,"data":{},"created_at":"2024-05-01T10:00:00Z","expires_at":null}`,
			`{"c":"2024-05-01T10:00:00Z"}`, seq(0xa0, 12)},
		{"logged-in-with-data-and-expiry", "k1",
			`{"user_id":"user-42","data":{"theme":"dark","cart":[1,2.5,"<x>"]},"created_at":"2024-05-01T10:00:00.5Z","expires_at":"2024-05-01T11:00:00.5Z"}`,
			`{"c":"2024-05-01T10:00:00.5Z","d":{"cart":[1,2.5,"\u003cx\u003e"],"theme":"dark"},"e":"2024-05-01T11:00:00.5Z","u":"user-42"}`,
			seq(0xb0, 12)},
		{"unicode-and-nesting", "k1",
			`{"user_id":"émilie","data":{"t":true,"a":{"b":null,"n":-7}},"created_at":"2024-05-01T10:00:00.123456789Z","expires_at":"2030-01-01T00:00:00Z"}`,
			`{"c":"2024-05-01T10:00:00.123456789Z","d":{"a":{"b":null,"n":-7},"t":true},"e":"2030-01-01T00:00:00Z","u":"émilie"}`,
			seq(0xc0, 12)},
		{"sealed-with-k2", "k2",
			`{"user_id":"user-42","data":{},"created_at":"2024-05-01T10:00:00Z","expires_at":null}`,
			`{"c":"2024-05-01T10:00:00Z","u":"user-42"}`, seq(0xd0, 12)},
		{"sealed-with-old", "old",
			`{"user_id":"user-42","data":{},"created_at":"2024-05-01T10:00:00Z","expires_at":null}`,
			`{"c":"2024-05-01T10:00:00Z","u":"user-42"}`, seq(0xe0, 12)},
	}

	const now = "2024-05-01T10:30:00Z"
	ring := []string{"k1", "k2"}
	v1 := v1Section{CookieName: cookieName, MaxCookieBytes: 4096, Keys: hexKeys}
	values := map[string]string{}
	add := func(name string, r []string, cookie, value, at string, expect raw) {
		v1.Open = append(v1.Open, openCase{name, r, cookie, 4096, value, at, expect})
	}
	for _, in := range inputs {
		v := sealV1(in.kid, keys[in.kid], in.nonce, cookieName, in.payload)
		values[in.name] = v
		v1.Seal = append(v1.Seal, sealCase{in.name, in.kid, hex.EncodeToString(in.nonce), raw(in.session), in.payload, v})
		if in.kid != "old" {
			add("opens/"+in.name, ring, cookieName, v, now, raw(`{"session":`+in.session+`}`))
		}
	}
	logged := values["logged-in-with-data-and-expiry"]
	loggedSession := inputs[1].session
	body := strings.TrimPrefix(logged, "v1.k1.")

	add("rotation/k2-opens-with-k1-in-front", []string{"k1", "k2"}, cookieName, values["sealed-with-k2"], now,
		raw(`{"session":`+inputs[3].session+`}`))
	add("rotation/removed-key-does-not-open", ring, cookieName, values["sealed-with-old"], now, reason("tampered"))
	add("rotation/k1-value-after-k1-removed", []string{"k2"}, cookieName, logged, now, reason("tampered"))
	add("expiry/at-expires-at-is-live", ring, cookieName, logged, "2024-05-01T11:00:00.5Z", raw(`{"session":`+loggedSession+`}`))
	add("expiry/one-ms-after-is-expired", ring, cookieName, logged, "2024-05-01T11:00:00.501Z", reason("expired"))
	add("bound/moved-to-another-cookie-name", ring, "other", logged, now, reason("tampered"))
	add("bound/key-id-relabelled", ring, cookieName, "v1.k2."+body, now, reason("tampered"))
	add("wrong-key/k2-bytes-under-id-k1", ring, cookieName,
		sealV1("k1", keys["k2"], seq(0xb0, 12), cookieName, inputs[1].payload), now, reason("tampered"))
	add("tampered/nonce-char-changed", ring, cookieName, "v1.k1."+flip(body, 3), now, reason("tampered"))
	add("tampered/ciphertext-char-changed", ring, cookieName, "v1.k1."+flip(body, 30), now, reason("tampered"))
	add("tampered/tag-char-changed", ring, cookieName, "v1.k1."+flip(body, len(body)-5), now, reason("tampered"))
	add("truncated/last-4-chars-dropped", ring, cookieName, logged[:len(logged)-4], now, reason("tampered"))
	add("truncated/shorter-than-nonce-and-tag", ring, cookieName, "v1.k1."+body[:36], now, reason("malformed"))
	add("truncated/body-empty", ring, cookieName, "v1.k1.", now, reason("malformed"))
	add("truncated/prefix-only", ring, cookieName, "v1.", now, reason("malformed"))
	add("malformed/empty", ring, cookieName, "", now, reason("malformed"))
	add("malformed/non-base64", ring, cookieName, "v1.k1.!!!!not*base64!!!!", now, reason("malformed"))
	add("malformed/padded-base64", ring, cookieName, logged+"==", now, reason("malformed"))
	add("malformed/standard-alphabet", ring, cookieName,
		"v1.k1."+strings.NewReplacer("-", "+", "_", "/").Replace(body)+"+/", now, reason("malformed"))
	add("malformed/unknown-version", ring, cookieName, "v2"+strings.TrimPrefix(logged, "v1"), now, reason("malformed"))
	add("malformed/no-key-id", ring, cookieName, "v1.."+body, now, reason("malformed"))
	add("malformed/bad-key-id", ring, cookieName, "v1.k*1."+body, now, reason("malformed"))
	add("malformed/unknown-key-id", ring, cookieName, "v1.k9."+body, now, reason("tampered"))
	add("malformed/seeds-value", ring, cookieName, sealSeeds(seq(0, 32), seq(0xa0, 12), `{"a":1}`), now, reason("malformed"))
	// 4 bytes of "sid=" plus the value: 4096 is at the limit, 4097 over it.
	atLimit := "v1.k1." + strings.Repeat("A", 4096-4-6)
	add("size/garbage-at-limit-is-decoded", ring, cookieName, atLimit, now, reason("tampered"))
	add("size/one-byte-over-is-oversized", ring, cookieName, atLimit+"A", now, reason("oversized"))
	add("size/huge", ring, cookieName, strings.Repeat("v1.k1.", 2000), now, reason("oversized"))

	seedsKeys := map[string][]byte{
		"aes128": seq(0x00, 16), "aes192": seq(0x10, 24), "aes256": seq(0x30, 32), "aes256-other": seq(0x50, 32),
	}
	hexSeeds := map[string]string{}
	for k, v := range seedsKeys {
		hexSeeds[k] = hex.EncodeToString(v)
	}
	seeds := seedsSection{Keys: hexSeeds}
	sc := func(name, key string, nonce []byte, plaintext string, expect raw) string {
		v := sealSeeds(seedsKeys[key], nonce, plaintext)
		seeds.Open = append(seeds.Open, seedsCase{name, key, hex.EncodeToString(nonce), plaintext, v, expect})
		return v
	}
	other := func(name, key, value string, expect raw) {
		seeds.Open = append(seeds.Open, seedsCase{Name: name, Key: key, Value: value, Expect: expect})
	}
	v128 := sc("aes128/object", "aes128", seq(0x60, 12), `{"user_id":"42","flash":"saved"}`,
		raw(`{"json":{"user_id":"42","flash":"saved"}}`))
	sc("aes192/object", "aes192", seq(0x70, 12), `{"cart":["a","b"],"n":3}`, raw(`{"json":{"cart":["a","b"],"n":3}}`))
	v256 := sc("aes256/object", "aes256", seq(0x80, 12), `{"k":"v"}`, raw(`{"json":{"k":"v"}}`))
	sc("aes256/string", "aes256", seq(0x81, 12), `"just a string"`, raw(`{"json":"just a string"}`))
	sc("aes256/not-json", "aes256", seq(0x82, 12), `hello`, reason("malformed"))
	sc("aes256/empty-plaintext", "aes256", seq(0x83, 12), ``, reason("malformed"))
	other("wrong-key", "aes256-other", v256, reason("tampered"))
	other("aes128-value-with-aes256-key", "aes256", v128, reason("tampered"))
	other("tampered", "aes256", flip(v256, 20), reason("tampered"))
	other("truncated-below-nonce-and-tag", "aes256", base64.StdEncoding.EncodeToString(seq(0x80, 27)), reason("malformed"))
	other("nonce-only", "aes256", base64.StdEncoding.EncodeToString(seq(0x80, 12)), reason("malformed"))
	other("non-base64", "aes256", "%%%not base64%%%", reason("malformed"))
	other("unpadded", "aes256", strings.TrimRight(v256, "="), reason("malformed"))
	other("empty", "aes256", "", reason("malformed"))
	other("v1-value", "aes256", logged, reason("malformed"))
	other("oversized", "aes256", strings.Repeat("AAAA", 1025), reason("oversized"))

	out := file{
		Comment: []string{
			"Sealed cookie sessions: omnisession's v1 format and the seeds' CookieOverseer values.",
			"Generated by tests/seeds/cookie_vectors (go run tests/seeds/cookie_vectors/main.go > tests/conformance/sealed/vectors.json),",
			"sealed with Go's crypto/aes + crypto/cipher; run by core/tests/sealed.rs. Keys and nonces are hex.",
			"v1.seal: sealing `session` with `key` and `nonce` under cookie_name gives `payload` sealed as `value`.",
			"v1.open: opening `value` with the keys of `ring` (first seals) under `cookie_name` at `now` gives `expect`.",
			"seeds.open: SeedsOpener with `key` opening `value` gives `expect` (json or reason).",
		},
		V1:    v1,
		Seeds: seeds,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	os.Stdout.Write(buf.Bytes())
}
