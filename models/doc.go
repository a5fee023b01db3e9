// Package models parses, validates, versions and stores BPMN 2.0 tracking
// models in the Zeebe flavour (DESIGN.md §3).
//
// [Parse] turns one BPMN file into [Definitions]: the file as-is (for the
// diagram) and one immutable [Process] graph per executable process. It
// reports every problem it finds at once as [Problem] values, each naming
// the file, line, element id and name; warnings (a model without diagram, a
// gateway condition outside the FEEL subset, which falls back to deferred
// choice) do not prevent deployment, errors do. XML is decoded token by token
// with namespaces matched by URI, so any prefix or a default namespace works;
// DOCTYPE and entity declarations and files over [Options.MaxBytes] (default
// [DefaultMaxBytes], 4 MiB) are refused. [CheckFile] is the same check for
// `tracker validate`.
//
// [Repository] keeps deployed versions in a directory (index.json plus one
// xml/<sha256>.bpmn per distinct file, each written atomically): process id
// + version, deployment key, content hash and time. [Repository.DeployAll]
// deploys every process of a file; [Repository.Deploy] returns the first.
// Deploying XML byte-identical to a process's latest version returns that
// version; a changed file becomes version n+1 of each process it holds.
// Invalid files store nothing and return an error wrapping [ErrInvalid]
// along with the problems. The engine looks processes up with
// [Repository.Get] (id + version), [Repository.Latest] and
// [Repository.LatestAll], and routes messages with [Repository.StartingOn],
// [Repository.Catching], [Repository.UsesMessage] and, per process,
// [Process.StartEventsFor] and [Process.CatchEventsFor].
//
// Tracker properties: tracker.sla and tracker.stuckAfter (positive ISO 8601
// durations; months count as 30 days, years as 365, since they become
// [time.Duration]) and tracker.conformance (lenient or strict) on the
// process or any element; an invalid value is an error on that element.
//
// Timers ([ParseTimer]) accept ISO 8601 durations with calendar-exact
// months (via package iso8601), date-times with zone, repeating cycles
// (R3/PT1H, R/P1D, R3/2026-01-01T00:00:00Z/PT1H) and FEEL literals such as
// =duration("P14D"). Correlation keys and conditions are compiled with
// package feel. docs/MODELS.md lists exactly what is supported.
package models
