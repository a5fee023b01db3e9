package main

import (
	"context"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/incidents"
)

// currentIncidents serves the history read model with the incidents of an
// instance detail in their current state: operators resolve and retry them in
// the incidents store, which the read model does not follow yet.
type currentIncidents struct {
	*history.Service
	store *incidents.Store
}

// Instance implements api.InstanceReader.
func (c currentIncidents) Instance(ctx context.Context, key int64) (history.Detail, bool, error) {
	d, found, err := c.Service.Instance(ctx, key)
	if err != nil || !found {
		return d, found, err
	}
	for i := range d.Incidents {
		if inc, err := c.store.Get(ctx, d.Incidents[i].ID); err == nil {
			d.Incidents[i].State = string(inc.State)
		}
	}
	return d, found, nil
}
