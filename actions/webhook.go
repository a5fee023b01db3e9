package actions

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// webhookSender POSTs each action's record to a URL.
type webhookSender struct {
	t      webhookTarget
	client *http.Client // nil: http.DefaultClient with the target's timeout per request
}

func (w *webhookSender) send(ctx context.Context, items []*item) []error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.post(ctx, it)
		}()
	}
	wg.Wait()
	return errs
}

// post sends one record: 2xx is delivered; 408, 429 and 5xx answers and
// transport errors are worth retrying; other answers are not.
func (w *webhookSender) post(ctx context.Context, it *item) error {
	body, err := encodeRecord(&it.a)
	if err != nil {
		return permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.t.url, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook %s: %w", w.t.url, err))
	}
	for k, v := range w.t.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tracker")
	req.Header.Set("Tracker-Action-Id", it.a.ID)
	req.Header.Set("Idempotency-Key", it.a.ID)
	client := w.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.t.url, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook %s answered %s: %s", w.t.url, resp.Status, bytes.TrimSpace(snippet))
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return permanent(err)
}

func (w *webhookSender) close() error {
	if w.client != nil {
		w.client.CloseIdleConnections()
	}
	return nil
}
