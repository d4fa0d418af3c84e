// Package mediator sends each request to its one handler through a pipeline
// of behaviors, and publishes notifications to any number of handlers.
//
// # Messages
//
// A request embeds a marker that fixes its response type, so [Send] infers it:
//
//	type GetBalance struct {
//		mediator.Query[int64]
//		AccountID string
//	}
//	balance, err := mediator.Send(ctx, m, GetBalance{AccountID: "42"})
//
// [Command], [Query] and [Request] are the markers; [Unit] is the response of
// a command that answers nothing. A notification embeds [Notification] and is
// delivered by [Publish].
//
// # Building
//
// Every registration is a package-level generic function returning an
// [Option] (Go methods cannot take type parameters). [New] takes them all;
// [NewBuilder] offers the fluent form. Build resolves constructors through a
// go.uber.org/dig container ([Provide] adds the application's services),
// composes each type's pipeline once, and reports every problem in a
// [*BuildError]: nothing panics and nothing is reflected on per Send.
//
// # Dependency injection
//
// A handler or behavior may be given as a constructor, func(deps...) H or
// func(deps...) (H, error); Build calls it once and the container supplies
// its parameters. A constructor that opens something registers its clean-up
// on the [*Lifecycle] it asks for, and [Mediator.Close] runs the clean-ups.
//
// A constructor may also ask for the [*Mediator] itself, to Send or Publish
// from inside a handler: the container supplies the mediator Build returns.
// A failed registration is reported in the user's terms, as a
// [*RegistrationError]: the message type, the function called and its line,
// then the cause, without dig's wrapping.
//
// # Behavior order
//
// Global behaviors ([WithGlobalBehavior]) are outermost, then the type's own
// behaviors ([WithBehavior]); in each group the first registered is the
// outermost, so it runs first on the way in and last on the way out.
//
// # Notifications
//
// [Publish] delivers a notification to every handler registered with
// [WithNotificationHandler]: one after another ([Sequential], the default;
// [StopOnFirstError] stops at the first failure) or concurrently
// ([Parallel], bounded by [WithMaxPublishConcurrency]), and joins their
// errors; [WithBackgroundPublish] moves the delivery off the caller's
// goroutine. A type without handlers is not an error unless
// [RequireNotificationHandlers] is given.
//
// Notification behaviors wrap the whole Publish ([WithNotificationBehavior],
// [WithGlobalNotificationBehavior]: a lock, a span) or each handler
// separately ([WithNotificationHandlerBehavior]: a retry).
//
// # Streams
//
// A request embedding [StreamRequest] is answered by a stream:
// [Stream] returns an iter.Seq2[T, error] that runs the request's
// [StreamHandler] through its stream behaviors ([WithStreamBehavior]) when
// ranged over.
//
// Package mediatortest offers a recorder and a faulty lock provider for the
// application's tests.
//
// The user guide is docs/guide.md in the repository.
package mediator
