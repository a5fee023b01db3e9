package simulator

import _ "embed"

// ModelXML is the order-fulfillment model the simulator's traffic follows
// (a copy of shared/examples/order-fulfillment.bpmn); `tracker demo` deploys it.
//
//go:embed model/order-fulfillment.bpmn
var ModelXML []byte

// DecisionsDMN is the decision table for uncorrelated events `tracker demo`
// uses (a copy of shared/examples/uncorrelated.dmn).
//
//go:embed model/uncorrelated.dmn
var DecisionsDMN []byte
