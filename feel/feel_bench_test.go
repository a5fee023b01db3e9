package feel

import "testing"

func BenchmarkEvalCondition(b *testing.B) {
	e := MustCompile(`=amount > 100 and order.customer.country = "DE"`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(`=if amount > 100 and contains(orderId, "47") then upper case(order.id) else null`); err != nil {
			b.Fatal(err)
		}
	}
}
