package correlate

import (
	"fmt"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/kafkaconn"
)

// newConnection builds what every kafka-go client of the consumer needs to
// reach the cluster.
func newConnection(k config.Kafka) (*kafkaconn.Conn, error) {
	if len(k.Brokers) == 0 {
		return nil, fmt.Errorf("kafka.brokers: at least one broker is needed")
	}
	return kafkaconn.New(k)
}
