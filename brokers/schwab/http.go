package schwab

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// TransientError is a failure worth retrying (network, timeout, 429,
// 5xx). RetryAfter is the server's hint, zero if none.
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *TransientError) Unwrap() error { return e.Err }

func retryAfter(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// scrubURLError drops the URL from a transport error: a URL can carry an
// account hash or a code, and the caller names the call anyway.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// scrub replaces every secret in an error body by [redacted], in case a
// server echoes a token or code back: error bodies end up in errors and
// logs.
func scrub(body []byte, secrets ...string) []byte {
	for _, s := range secrets {
		if len(s) >= 4 {
			body = bytes.ReplaceAll(body, []byte(s), []byte("[redacted]"))
		}
	}
	return body
}
