module omnisession.dev/bench

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/plexusone/omnistorage-core v0.5.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/redis/go-redis/v9 v9.21.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
)

// The Go module proxy does not serve omnistorage-core: the real library, tag v0.5.1, checked out
// beside the repository (../shared/vendor/omnistorage-core from the repo root). A checkout
// elsewhere: OMNISTORAGE_CORE_DIR (bench/harness/scenarios.py then builds through a go.work whose
// replace takes precedence over this one).
replace github.com/plexusone/omnistorage-core => ../../../shared/vendor/omnistorage-core
