// Package base holds what the single-node Redis provider (package redis)
// and the Redlock provider (package redlock) share, so that neither reaches
// into the other: [Options] and their validation ([SettingsOf]), the
// connection strings ([UniversalOptions], [RedlockNodes]), the storage names
// of a lock ([Keys]), the acquire and release scripts both run on a node,
// the eviction-policy check ([EvictionCheck]), the background give-backs of
// grants and releases whose reply was lost ([GiveBacks], [MayHaveRun]), the
// waiting and refresh timing ([NextWait], [UntilRefresh]) and the pieces of
// registration ([FromContainer], [PingProvider]). The errors users match
// ([ErrInvalidOptions], [ErrClosed], ...) are defined here and re-exported
// by both public packages under the same values.
package base
