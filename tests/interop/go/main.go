// Command interop is a Go service on the real omnistorage-core (v0.5.1): a session store made
// exactly as its README makes one, sessionkvs.NewWithControls over kvsredis, sharing one Redis
// with omnisession. Every command is one call of that store; nothing here re-implements it.
//
//	interop write   <redis-url> <prefix> <user-uuid> [ttl] -> Create; prints {"id": ...}
//	interop read    <redis-url> <prefix> <id>              -> Get; prints the session as JSON
//	interop update  <redis-url> <prefix> <id> <k> <v>      -> Get, data[k] = v, Update
//	interop touch   <redis-url> <prefix> <id>              -> Touch
//	interop delete  <redis-url> <prefix> <id>              -> Delete
//	interop list    <redis-url> <prefix> <user-uuid>       -> ListByUserID; prints the ids
//	interop logout  <redis-url> <prefix> <user-uuid>       -> DeleteByUserID; prints the count
//
// The store's session.Config comes from the environment, so that a test can run the Go side
// with the configuration docs/go-interop.md recommends, or with another one:
// GO_DEFAULT_TTL (a Go duration, default 0: the TTL follows each session's own expires_at),
// GO_MAX_PER_USER (MaxSessionsPerUser, default 0), GO_SITE_ID (SiteID, default "").
// An error is printed to stderr as "interop: <call>: <error>" with exit status 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	kvsredis "github.com/plexusone/omnistorage-core/kvs/backend/redis"
	"github.com/plexusone/omnistorage-core/session"
	sessionkvs "github.com/plexusone/omnistorage-core/session/backend/kvs"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
	os.Exit(1)
}

func check(call string, err error) {
	if err != nil {
		fail("%s: %v", call, err)
	}
}

func print(v any) {
	out, err := json.Marshal(v)
	check("encode", err)
	fmt.Println(string(out))
}

// config is the Go side's session.Config: omnisession's key prefix, no cleanup goroutine (a
// one-shot process), and the environment's choices.
func config(prefix string) session.Config {
	cfg := session.DefaultConfig()
	cfg.KeyPrefix = prefix
	cfg.CleanupInterval = 0
	cfg.DefaultTTL = 0
	if v := os.Getenv("GO_DEFAULT_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		check("GO_DEFAULT_TTL", err)
		cfg.DefaultTTL = d
	}
	if v := os.Getenv("GO_MAX_PER_USER"); v != "" {
		n, err := strconv.Atoi(v)
		check("GO_MAX_PER_USER", err)
		cfg.MaxSessionsPerUser = n
	}
	cfg.SiteID = os.Getenv("GO_SITE_ID")
	return cfg
}

func main() {
	if len(os.Args) < 5 {
		fail("usage: interop write|read|update|touch|delete|list|logout <redis-url> <prefix> <arg>...")
	}
	cmd, url, prefix, arg := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	// The KVS layer gets no prefix of its own: session.Config.KeyPrefix is omnisession's
	// key_prefix, so both write {prefix}{id} and {prefix}user:{uuid}.
	kv, err := kvsredis.New(kvsredis.Config{URL: url})
	check("kvsredis.New", err)
	store := sessionkvs.NewWithControls(kv, config(prefix))
	defer store.Close()
	ctx := context.Background()
	switch cmd {
	case "write":
		user, err := uuid.Parse(arg)
		check("uuid.Parse", err)
		ttl := time.Hour
		if len(os.Args) > 5 {
			ttl, err = time.ParseDuration(os.Args[5])
			check("ttl", err)
		}
		s, err := session.NewSession(user, ttl)
		check("NewSession", err)
		s.Data = map[string]any{"from": "go", "n": 42, "html": "<b>&</b>"}
		check("Create", store.Create(ctx, s))
		print(map[string]string{"id": s.ID})
	case "read":
		s, err := store.Get(ctx, arg)
		check("Get", err)
		print(s)
	case "update":
		if len(os.Args) < 7 {
			fail("usage: interop update <redis-url> <prefix> <id> <key> <value>")
		}
		s, err := store.Get(ctx, arg)
		check("Get", err)
		if s.Data == nil {
			s.Data = map[string]any{}
		}
		s.Data[os.Args[5]] = os.Args[6]
		check("Update", store.Update(ctx, s))
	case "touch":
		check("Touch", store.Touch(ctx, arg))
	case "delete":
		check("Delete", store.Delete(ctx, arg))
	case "list":
		lister, ok := store.(session.SessionLister)
		if !ok {
			fail("list: the store is not a session.SessionLister")
		}
		sessions, err := lister.ListByUserID(ctx, arg)
		check("ListByUserID", err)
		ids := []string{}
		for _, s := range sessions {
			ids = append(ids, s.ID)
		}
		print(ids)
	case "logout":
		n, err := store.DeleteByUserID(ctx, arg)
		check("DeleteByUserID", err)
		print(n)
	default:
		fail("unknown command %q", cmd)
	}
}
