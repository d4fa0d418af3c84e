package redlock

import "github.com/turbomediator/turbomediator-go/providers/redis/internal/base"

// ScriptHashes are the SHA1s of the scripts a Redlock grant and its
// extension run, for tests that must know them cached on a node before a
// fault makes a NOSCRIPT round trip too slow.
var ScriptHashes = []string{base.AcquireScript.Hash(), redlockRaiseScript.Hash(), redlockExtendScript.Hash()}

// ReleaseScriptHash is the SHA1 of the script a Redlock release runs on
// each node, for tests that make releases fail.
var ReleaseScriptHash = redlockReleaseScript.Hash()

// AcquireScriptHash is the SHA1 of the script an attempt runs on each node.
var AcquireScriptHash = base.AcquireScript.Hash()

// GiveBackScriptHash is the SHA1 of the script that deletes, node by node,
// what a failed attempt (or a grant that landed after its lock's release)
// left there.
var GiveBackScriptHash = base.ReleaseScript.Hash()
