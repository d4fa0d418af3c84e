package redlock

import "github.com/turbomediator/turbomediator-go/providers/redis/internal/base"

// ScriptHashes are the SHA1s of the scripts a Redlock grant and its
// extension run, for tests that must know them cached on a node before a
// fault makes a NOSCRIPT round trip too slow.
var ScriptHashes = []string{base.AcquireScript.Hash(), redlockRaiseScript.Hash(), redlockExtendScript.Hash()}

// ReleaseScriptHash is the SHA1 of the script a Redlock release runs on
// each node, for tests that make releases fail.
var ReleaseScriptHash = redlockReleaseScript.Hash()
