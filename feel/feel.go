// Package feel implements the subset of FEEL (Friendly Enough Expression
// Language) that tracking models and decision tables use: correlation keys
// (=orderId, legacy orderId, =order.id), sequence-flow conditions and DMN input
// expressions.
//
// CONTRACT (owned by the models helper; signatures below are fixed, bodies are theirs):
//
//	func Compile(src string) (*Expression, error)        // "=orderId", "orderId", "=a > 1 and b = \"x\""
//	func (e *Expression) Eval(vars map[string]any) (any, error)
//	func (e *Expression) String() string                 // the source text
//	var ErrUnsupported error                              // wrapped when src is FEEL outside the subset
//
// Values follow encoding/json's shapes: string, float64, bool, nil,
// map[string]any, []any; also time.Time and iso8601.Duration for date and
// duration literals.
package feel

// Expression is a compiled FEEL expression. The models helper replaces this
// declaration with the real implementation.
type Expression struct {
	src string
}
