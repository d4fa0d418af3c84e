// Package registry is the type-keyed store behind a mediator: for each message
// type it keeps the handler registration, the behavior chain and the options
// that behaviors attached to that type.
//
// A [Registry] is filled while a mediator is being built and frozen by Build.
// Freezing turns it into a [Table], an immutable open-addressed hash table keyed
// by the identity of the message's static type ([KeyOf]). A Table lookup hashes
// one pointer and compares it, so the hot path of Send never reflects, writes a
// map or allocates.
package registry
