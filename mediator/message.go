package mediator

// Message is the constraint of Send: every request type embeds one of the
// markers [Command], [Query] or [Request], which fixes its response type R so
// that Send infers R from the request at compile time.
type Message[R any] interface {
	mediatorResponse() R
}

// Command marks a request that changes state and answers with R. Embed it:
//
//	type WithdrawCommand struct {
//		mediator.Command[WithdrawResult]
//		AccountID string
//	}
//
// Use [Unit] as R for a command that returns nothing.
type Command[R any] struct{}

func (Command[R]) mediatorResponse() (r R) { return r }

// Query marks a request that reads state and answers with R.
type Query[R any] struct{}

func (Query[R]) mediatorResponse() (r R) { return r }

// Request marks a request that is neither clearly a command nor a query.
type Request[R any] struct{}

func (Request[R]) mediatorResponse() (r R) { return r }

// Unit is the response of a command that returns nothing.
type Unit struct{}

// Notifier is the constraint of Publish: the notification type embeds
// [Notification].
type Notifier interface {
	mediatorNotification()
}

// Notification marks a message delivered by Publish to every handler
// registered for its type.
type Notification struct{}

func (Notification) mediatorNotification() {}
