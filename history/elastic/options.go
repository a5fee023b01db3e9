package elastic

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/config"
)

// Defaults applied by [Options] when a field is left at its zero value.
const (
	DefaultIndexPrefix     = "tracker"
	DefaultRefreshInterval = "1s"
	DefaultBulkActions     = 1000
	DefaultBulkBytes       = 5 << 20
	DefaultBulkWorkers     = 1
	DefaultMaxRetries      = 8
	DefaultMaxBackoff      = 30 * time.Second
)

// Options configures a [Backend]. The zero value of every field except URLs
// is a safe default.
type Options struct {
	// URLs of the cluster nodes, e.g. "https://es1:9200".
	URLs []string
	// IndexPrefix names every index, template and alias (default "tracker").
	IndexPrefix string

	// Username and Password enable HTTP basic auth. Mutually exclusive with APIKey.
	Username string
	Password string
	// APIKey is the base64 "id:api_key" credential (the "encoded" value the
	// create-API-key call returns), sent as "Authorization: ApiKey ...".
	APIKey string
	// CAFile is a PEM bundle of the CAs that sign the cluster's certificates
	// (added to the system pool). Ignored when HTTPClient is set.
	CAFile string

	// Sniff discovers the other nodes of the cluster and balances over them.
	// Off by default: sniffing only works when the nodes' published addresses
	// are reachable from the tracker (not the case behind Docker, a load
	// balancer or a hosted service).
	Sniff bool
	// Healthcheck pings the nodes periodically and at start. Off by default.
	Healthcheck bool

	// Shards of every index (0 = the cluster's default, 1 since 7.0).
	Shards int
	// Replicas of every index (nil = the cluster's default, usually 1; a
	// single-node cluster needs 0 to turn green).
	Replicas *int
	// RefreshInterval of every index (default "1s": what the UI sees lags
	// writes by at most about a second; "-1" disables periodic refresh).
	RefreshInterval string

	// BulkActions, BulkBytes and BulkWorkers size the BulkProcessor
	// (defaults 1000 actions, 5 MiB, 1 worker): a batch larger than that is
	// sent as several bulk requests. Apply flushes at its end, so there is no
	// periodic flush and no document waits for one.
	BulkActions int
	BulkBytes   int
	BulkWorkers int
	// MaxRetries and MaxBackoff bound the BulkProcessor's retries of a bulk
	// request that failed or of items refused with 408, 429 or 5xx (defaults
	// 8 retries, waits doubling from 100ms up to 30s). A batch still failing
	// then makes Apply return an error: the checkpoint is not written and
	// the projector retries the batch later. Negative MaxRetries: no retry.
	MaxRetries int
	MaxBackoff time.Duration

	// HTTPClient replaces the HTTP client (tests, custom transports).
	HTTPClient *http.Client
	// Logger receives the backend's and the client library's logs.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// FromConfig turns the config file's settings into Options, reading the
// password and API key from the environment variables the config names
// (getenv is usually os.Getenv).
func FromConfig(c config.Elasticsearch, getenv func(string) string) (Options, error) {
	o := Options{
		URLs:        append([]string(nil), c.URLs...),
		IndexPrefix: c.IndexPrefix,
		Username:    c.Username,
		CAFile:      c.CAFile,
		Sniff:       c.Sniff,
		Healthcheck: c.Healthcheck,
	}
	var errs []error
	if c.PasswordEnv != "" {
		o.Password = getenv(c.PasswordEnv)
		if o.Password == "" {
			errs = append(errs, fmt.Errorf("history.elasticsearch.password_env: environment variable %s is empty or unset", c.PasswordEnv))
		}
	}
	if c.APIKeyEnv != "" {
		o.APIKey = getenv(c.APIKeyEnv)
		if o.APIKey == "" {
			errs = append(errs, fmt.Errorf("history.elasticsearch.api_key_env: environment variable %s is empty or unset", c.APIKeyEnv))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Options{}, err
	}
	return o, nil
}

// withDefaults returns o with zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.IndexPrefix == "" {
		o.IndexPrefix = DefaultIndexPrefix
	}
	if o.RefreshInterval == "" {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.BulkActions == 0 {
		o.BulkActions = DefaultBulkActions
	}
	if o.BulkBytes == 0 {
		o.BulkBytes = DefaultBulkBytes
	}
	if o.BulkWorkers == 0 {
		o.BulkWorkers = DefaultBulkWorkers
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validate reports every problem with o at once. It expects defaults applied.
func (o Options) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("elasticsearch option %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(o.URLs) == 0 {
		bad("URLs", "at least one URL is required, e.g. http://127.0.0.1:9200")
	}
	for i, raw := range o.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("URLs[%d]", i), "invalid URL %q: expected http(s)://host:port", raw)
		}
	}
	if msg := checkIndexPrefix(o.IndexPrefix); msg != "" {
		bad("IndexPrefix", "%q %s", o.IndexPrefix, msg)
	}
	if o.APIKey != "" && (o.Username != "" || o.Password != "") {
		bad("APIKey", "set either an API key or a username and password, not both")
	}
	if o.Password != "" && o.Username == "" {
		bad("Password", "a password needs a username")
	}
	if o.CAFile != "" && o.HTTPClient == nil {
		if _, err := loadCA(o.CAFile); err != nil {
			bad("CAFile", "%v", err)
		}
	}
	if o.Shards < 0 {
		bad("Shards", "must not be negative (got %d)", o.Shards)
	}
	if o.Replicas != nil && *o.Replicas < 0 {
		bad("Replicas", "must not be negative (got %d)", *o.Replicas)
	}
	if o.BulkActions < 0 || o.BulkBytes < 0 || o.BulkWorkers < 0 {
		bad("Bulk", "sizes must not be negative (actions %d, bytes %d, workers %d)", o.BulkActions, o.BulkBytes, o.BulkWorkers)
	}
	if o.MaxBackoff < 0 {
		bad("MaxBackoff", "must not be negative (got %s)", o.MaxBackoff)
	}
	if !validInterval(o.RefreshInterval) {
		bad("RefreshInterval", "%q is not an Elasticsearch time value such as 1s, 500ms or -1", o.RefreshInterval)
	}
	return errors.Join(errs...)
}

// checkIndexPrefix returns why p cannot start an index name, or "".
// Elasticsearch index names are lowercase, at most 255 bytes, must not start
// with -, _ or + and must not contain \ / * ? " < > | space , # :.
func checkIndexPrefix(p string) string {
	switch {
	case p == "":
		return "is empty"
	case len(p) > 200:
		return "is longer than 200 bytes"
	case p != strings.ToLower(p):
		return "must be lowercase"
	case strings.ContainsAny(p[:1], "-_+."):
		return "must not start with -, _, + or ."
	case strings.ContainsAny(p, "\\/*?\"<>| ,#:"):
		return `must not contain \ / * ? " < > | space , # :`
	}
	return ""
}

// validInterval reports whether s is an Elasticsearch time value usable as a
// refresh interval.
func validInterval(s string) bool {
	if s == "-1" {
		return true
	}
	for _, unit := range []string{"ms", "s", "m", "h", "d"} {
		n, ok := strings.CutSuffix(s, unit)
		if !ok || n == "" {
			continue
		}
		if strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}

// loadCA reads a PEM bundle into a pool that also holds the system roots.
func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}
