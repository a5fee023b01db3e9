// Package decisiontable evaluates DMN decision tables: the small table that
// decides what happens to an event the tracker cannot correlate (ignore it,
// raise an incident, buffer it, or dead-letter it; DESIGN.md §5).
//
// Tables come as DMN XML as Camunda Modeler saves it (DMN 1.1 to 1.5
// namespaces) or in an equivalent YAML form; see docs/DECISIONS.md. [Load] and
// [Parse] check the whole table at load time and report every problem at once
// as [Problems], naming file, line and element id. Input entries are S-FEEL
// unary tests, parsed once; evaluating a rule does not allocate.
//
// [Table.Evaluate] gives the matched rules and their outputs under the table's
// hit policy (UNIQUE, FIRST, PRIORITY, ANY, COLLECT with SUM/MIN/MAX/COUNT,
// RULE ORDER, OUTPUT ORDER); [Table.Decide] reads the action, severity and
// note for an uncorrelated event. No matching rule means an incident.
package decisiontable
