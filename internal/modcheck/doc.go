// Package modcheck holds only a test: it checks that an application using
// the mediator, the locking behavior and the Redis provider does not get
// the modules of the providers that live in modules of their own (etcd and
// gRPC, pgx), nor the OpenTelemetry SDK, in its module graph.
package modcheck
