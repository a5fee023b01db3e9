package elastic

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	es "github.com/olivere/elastic/v7"
)

// newClient builds the olivere client from validated options. With Sniff and
// Healthcheck off (the defaults) it sends no request and starts no goroutine.
func newClient(ctx context.Context, o Options) (*es.Client, error) {
	httpClient := o.HTTPClient
	if httpClient == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if o.CAFile != "" {
			pool, err := loadCA(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("elasticsearch TLS: %w", err)
			}
			transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		httpClient = &http.Client{Transport: transport, Timeout: 60 * time.Second}
	}
	opts := []es.ClientOptionFunc{
		es.SetURL(o.URLs...),
		es.SetHttpClient(httpClient),
		es.SetSniff(o.Sniff),
		es.SetHealthcheck(o.Healthcheck),
		// Retry requests that failed on the connection (not HTTP errors)
		// a few times with backoff before giving up.
		es.SetRetrier(es.NewBackoffRetrier(backoff{max: min(o.MaxBackoff, 2*time.Second), retries: min(o.MaxRetries, 3)})),
		es.SetErrorLog(logAdapter{o.Logger, slog.LevelError}),
		es.SetInfoLog(logAdapter{o.Logger, slog.LevelDebug}),
	}
	if o.Username != "" {
		opts = append(opts, es.SetBasicAuth(o.Username, o.Password))
	}
	if o.APIKey != "" {
		opts = append(opts, es.SetHeaders(http.Header{"Authorization": []string{"ApiKey " + o.APIKey}}))
	}
	c, err := es.DialContext(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to elasticsearch %v: %w", o.URLs, err)
	}
	return c, nil
}

// logAdapter routes the client library's Printf logs into slog.
type logAdapter struct {
	l     *slog.Logger
	level slog.Level
}

// Printf implements the olivere Logger interface.
func (a logAdapter) Printf(format string, v ...any) {
	a.l.Log(context.Background(), a.level, fmt.Sprintf(format, v...), "component", "history/elastic")
}
