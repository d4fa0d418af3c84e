package redis

// RedlockScriptHashes are the SHA1s of the scripts a Redlock grant and its
// extension run, for tests that must know them cached on a node before a
// fault makes a NOSCRIPT round trip too slow.
var RedlockScriptHashes = []string{acquireScript.Hash(), redlockRaiseScript.Hash(), redlockExtendScript.Hash()}
