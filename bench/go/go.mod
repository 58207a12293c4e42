module omnisession.dev/bench

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/plexusone/omnistorage-core v0.5.1
)
