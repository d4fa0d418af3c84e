// Package mediatortest helps test the handlers of an application built on
// the mediator, as net/http/httptest helps test HTTP handlers.
//
// # Recording what a handler sends and publishes
//
// A [Recorder] registered in the mediator under test records every Send and
// every Publish in order, with its result, so a test asserts on what its
// handler asked of the rest of the application. [Stub] answers a request
// type with a fixed response and [Sink] accepts a notification type without
// doing anything, so the handler under test needs none of the real others:
//
//	rec := mediatortest.NewRecorder()
//	m, _ := mediator.New(
//		rec.Option(),
//		mediator.WithHandler[PlaceOrder, OrderID](NewPlaceOrderHandler),
//		mediatortest.Stub[ReserveStock](mediator.Unit{}, nil),
//		mediatortest.Sink[OrderPlaced](),
//	)
//	_, err := mediator.Send(ctx, m, PlaceOrder{...})
//	placed := mediatortest.PublishedOf[OrderPlaced](rec)
//
// # A lock provider that fails on demand
//
// [LockProvider] grants locks like the in-memory provider, and on demand
// makes a chosen acquisition contend ([LockProvider.ContendNext]), fail as
// if its server were unreachable ([LockProvider.FailNext]), or lose the lock
// while the handler runs ([LockProvider.LoseNext], [LockProvider.Lose]), so
// a handler's contention, unavailability and lost-lock paths are tested
// without a real backend.
package mediatortest
