// Command bench measures omnistorage-core's session stores (the Go reference omnisession is
// specified from) with the workloads of the other runners: memory and KVS over Redis, each
// wrapped in its ControlledStore as an application would use them.
//
//	go run . -redis redis://127.0.0.1:6379 -out results.json [-n 10000]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	kvsredis "github.com/plexusone/omnistorage-core/kvs/backend/redis"
	"github.com/plexusone/omnistorage-core/session"
	sessionkvs "github.com/plexusone/omnistorage-core/session/backend/kvs"
	sessionmemory "github.com/plexusone/omnistorage-core/session/backend/memory"
)

type row map[string]any

// measure runs op(i) for i in [0, n) from inFlight goroutines, after `warmup` calls past n.
func measure(n, inFlight, warmup int, op func(i int) error) row {
	for i := 0; i < warmup; i++ {
		if err := op(n + i); err != nil {
			fail(err)
		}
	}
	lat := make([]time.Duration, n)
	var next int64 = -1
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < min(inFlight, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(atomic.AddInt64(&next, 1)); i < n; i = int(atomic.AddInt64(&next, 1)) {
				t := time.Now()
				if err := op(i); err != nil {
					fail(err)
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) float64 { return float64(lat[min(n-1, int(p*float64(n)))].Nanoseconds()) / 1e3 }
	return row{"n": n, "ops_per_s": float64(n) / secs, "p50_us": pct(0.5), "p99_us": pct(0.99)}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func payload(size, i int) map[string]any {
	return map[string]any{"user": fmt.Sprintf("user-%d", i), "cart": []any{1, 2, 3}, "blob": strings.Repeat("x", max(0, size-64))}
}

func main() {
	redisURL := flag.String("redis", "", "redis URL")
	out := flag.String("out", "", "output JSON file")
	n := flag.Int("n", 10000, "operations per cell")
	gets := flag.Bool("gets", false, "only the cells the Rust-vs-Go targets divide: 1 KiB, 64 in flight, create (the fill) and get")
	flag.Parse()
	sizes, inFlights := []int{1024, 16384}, []int{1, 64}
	if *gets {
		sizes, inFlights = []int{1024}, []int{64}
	}
	warmup := max(5, *n/20)
	consume := max(5, (*n-2*warmup)/2)
	ctx := context.Background()
	cfg := session.DefaultConfig()
	cfg.CleanupInterval = 0
	var results []row

	open := map[string]func(tag string) session.Store{
		"memory": func(string) session.Store { return sessionmemory.NewWithControls(cfg) },
		"redis": func(tag string) session.Store {
			kv, err := kvsredis.New(kvsredis.Config{URL: *redisURL, KeyPrefix: "go:" + tag + ":", PoolSize: 64})
			if err != nil {
				fail(err)
			}
			return sessionkvs.NewWithControls(kv, cfg)
		},
	}
	for _, backend := range []string{"memory", "redis"} {
		for _, size := range sizes {
			store := open[backend](fmt.Sprintf("%s%d", backend, size))
			for _, inFlight := range inFlights {
				add := func(op string, r row) {
					r["runner"], r["impl"], r["backend"], r["op"], r["size"], r["in_flight"] = "go", "omnistorage-core", backend, op, size, inFlight
					results = append(results, r)
				}
				pool := make([]*session.Session, *n+warmup)
				add("create", measure(*n+warmup, inFlight, 0, func(i int) error {
					s, err := session.NewSession(uuid.New(), 24*time.Hour)
					if err != nil {
						return err
					}
					s.Data = payload(size, i)
					pool[i] = s
					return store.Create(ctx, s)
				}))
				add("get", measure(*n, inFlight, warmup, func(i int) error {
					_, err := store.Get(ctx, pool[i%len(pool)].ID)
					return err
				}))
				if *gets {
					continue
				}
				// The application holds the session it loaded and writes it back whole.
				add("save", measure(*n, inFlight, warmup, func(i int) error {
					s, err := store.Get(ctx, pool[i%len(pool)].ID)
					if err != nil {
						return err
					}
					s.Data["counter"] = i
					return store.Update(ctx, s)
				}))
				add("touch", measure(*n, inFlight, warmup, func(i int) error { return store.Touch(ctx, pool[i%len(pool)].ID) }))
				add("rotate", row{"missing": "omnistorage-core has no rotate"})
				deleting := pool[consume+warmup : 2*(consume+warmup)]
				add("deleteByUserId", measure(consume, inFlight, warmup, func(i int) error {
					_, err := store.DeleteByUserID(ctx, deleting[i].UserID.String())
					return err
				}))
				fmt.Fprintf(os.Stderr, "go %s %dB x%d done\n", backend, size, inFlight)
			}
			store.Close()
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetIndent("", " ")
	if err := enc.Encode(results); err != nil {
		fail(err)
	}
}
