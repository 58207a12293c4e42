// Command interop reads and writes omnisession records the way a Go service using
// omnistorage-core's KVS+Redis session backend does: the same Session struct (field order,
// JSON tags, uuid.UUID users, time.Time in the local zone), the same key ({prefix}{id}), the
// same SET with the remaining TTL.
//
//	interop write  <redis-url> <prefix> <user-uuid>  -> prints {"id": ...} of a new session
//	interop read   <redis-url> <prefix> <id>         -> prints the decoded session as JSON
//	interop update <redis-url> <prefix> <id> <k> <v> -> sets data[k] = v and writes it back
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Session mirrors omnistorage-core's session.Session field for field.
type Session struct {
	ID             string         `json:"id"`
	UserID         uuid.UUID      `json:"user_id"`
	SiteID         string         `json:"site_id,omitempty"`
	OrganizationID *uuid.UUID     `json:"organization_id,omitempty"`
	Data           map[string]any `json:"data,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	LastAccessedAt time.Time      `json:"last_accessed_at"`
	ExpiresAt      time.Time      `json:"expires_at"`
	IPAddress      string         `json:"ip_address,omitempty"`
	UserAgent      string         `json:"user_agent,omitempty"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
	os.Exit(1)
}

func ttl(s *Session) time.Duration {
	if s.ExpiresAt.IsZero() {
		return 0
	}
	if d := time.Until(s.ExpiresAt); d > 0 {
		return d
	}
	return 0
}

func load(ctx context.Context, rdb *redis.Client, key string) *Session {
	raw, err := rdb.Get(ctx, key).Bytes()
	if err != nil {
		fail("get %s: %v", key, err)
	}
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil {
		fail("decode: %v", err)
	}
	return &s
}

func main() {
	if len(os.Args) < 5 {
		fail("usage: interop write|read|update <redis-url> <prefix> <arg>...")
	}
	opts, err := redis.ParseURL(os.Args[2])
	if err != nil {
		fail("url: %v", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	prefix := os.Args[3]
	switch os.Args[1] {
	case "write":
		user, err := uuid.Parse(os.Args[4])
		if err != nil {
			fail("user: %v", err)
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			fail("rand: %v", err)
		}
		now := time.Now()
		s := &Session{
			ID: base64.RawURLEncoding.EncodeToString(b), UserID: user,
			Data:      map[string]any{"from": "go", "n": 42, "html": "<b>&</b>"},
			CreatedAt: now, UpdatedAt: now, LastAccessedAt: now, ExpiresAt: now.Add(time.Hour),
		}
		raw, _ := json.Marshal(s)
		if err := rdb.Set(ctx, prefix+s.ID, raw, ttl(s)).Err(); err != nil {
			fail("set: %v", err)
		}
		out, _ := json.Marshal(map[string]string{"id": s.ID})
		fmt.Println(string(out))
	case "read":
		out, _ := json.Marshal(load(ctx, rdb, prefix+os.Args[4]))
		fmt.Println(string(out))
	case "update":
		if len(os.Args) < 7 {
			fail("usage: interop update <redis-url> <prefix> <id> <key> <value>")
		}
		s := load(ctx, rdb, prefix+os.Args[4])
		if s.Data == nil {
			s.Data = map[string]any{}
		}
		s.Data[os.Args[5]] = os.Args[6]
		s.UpdatedAt = time.Now()
		raw, _ := json.Marshal(s)
		if err := rdb.Set(ctx, prefix+s.ID, raw, ttl(s)).Err(); err != nil {
			fail("set: %v", err)
		}
	default:
		fail("unknown command %q", os.Args[1])
	}
}
