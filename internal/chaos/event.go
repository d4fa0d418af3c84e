package chaos

import "time"

// Kind says what an [Event] records.
type Kind string

// The kinds of events a worker reports.
const (
	// Enter: the handler started under a lock with Token.
	Enter Kind = "enter"
	// Exit: the handler is about to return; the lock is still held.
	Exit Kind = "exit"
	// Write: a fenced write with Token was Accepted or refused by the store,
	// which numbered its decision Seq.
	Write Kind = "write"
	// Op: one attempt to run the locked command ended with Outcome.
	Op Kind = "op"
)

// Outcomes of an [Op] event.
const (
	OK          = "ok"          // the handler ran and returned
	Contended   = "contended"   // the lock stayed taken for the whole timeout
	Unavailable = "unavailable" // too few nodes answered
	Lost        = "lost"        // the lock was lost while the handler ran
	Failed      = "failed"      // anything else (the store failed, say)
)

// Event is one record of a worker, sent to the parent as a JSON line.
type Event struct {
	Kind Kind `json:"k"`
	// Proc is the worker process's number, unique within a run; G the
	// goroutine's number within it.
	Proc int `json:"p"`
	G    int `json:"g"`
	// At is the wall clock time in Unix nanoseconds. All processes run on
	// one machine, so their clocks agree.
	At    int64  `json:"at"`
	Token uint64 `json:"t,omitempty"`
	// Asked, on an Enter, is when the command whose lock was granted was
	// sent (Unix nanoseconds; 0 if unknown): the grant came after it.
	Asked    int64  `json:"q,omitempty"`
	Accepted bool   `json:"a,omitempty"`
	Seq      int64  `json:"s,omitempty"`
	Outcome  string `json:"o,omitempty"`
}

// Time returns At as a time.Time.
func (e Event) Time() time.Time { return time.Unix(0, e.At) }
