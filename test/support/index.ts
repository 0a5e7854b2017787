/**
 * Test support for Bramble's system tests, fault tests and benchmarks: deterministic load and
 * publishers (`Load`), an independent oracle and the lost/duplicated checker (`Oracle`),
 * read-back from the databases and `waitFor` (`Db`), and direct JetStream inspection
 * (`Streams`). Plain promises, so a test can use them from vitest or wrap them in
 * `Effect.promise`. Effect-based, for tests written with @effect/vitest: waiting
 * (`Eventually`) and a nats-server of a test's own (`NatsFixture`).
 */
export * from "./Db.js"
export * from "./Eventually.js"
export * from "./Load.js"
export * from "./NatsFixture.js"
export * from "./Oracle.js"
export * from "./Points.js"
export * from "./Streams.js"
