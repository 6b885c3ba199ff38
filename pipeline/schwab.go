package main

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
)

// schwabFlags configure the Schwab app, for `broker-auth login` and `run
// --broker schwab` alike (one registration, the same names).
type schwabFlags struct {
	appKey, appSecret, callbackURL, url string
	accountIndex                        int
}

func (f *schwabFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.appKey, "schwab-app-key", "", "Schwab: the app key of your app at developer.schwab.com")
	fs.StringVar(&f.appSecret, "schwab-app-secret", "", "Schwab: the app secret (prefer HEDGELINE_SCHWAB_APP_SECRET: a command line is visible to other users)")
	fs.StringVar(&f.callbackURL, "schwab-callback-url", "", "Schwab: the app's registered callback URL (e.g. https://127.0.0.1:8182)")
	fs.StringVar(&f.url, "schwab-url", schwab.DefaultBaseURL, "Schwab: API base address (a test server's, for tests)")
	fs.IntVar(&f.accountIndex, "schwab-account-index", 0, "Schwab: which entry of the login's accounts to trade in (run)")
}

func (f *schwabFlags) validate() error {
	var errs []error
	if f.appKey == "" {
		errs = append(errs, errRequired("--schwab-app-key"))
	}
	if f.appSecret == "" {
		errs = append(errs, errRequired("--schwab-app-secret (or HEDGELINE_SCHWAB_APP_SECRET)"))
	}
	if f.callbackURL == "" {
		errs = append(errs, errRequired("--schwab-callback-url"))
	}
	if f.accountIndex < 0 {
		errs = append(errs, usageErrorf("--schwab-account-index: want 0 or more, got %d", f.accountIndex))
	}
	return errors.Join(errs...)
}

func (f *schwabFlags) app() schwab.App {
	return schwab.App{Key: f.appKey, Secret: brokerauth.Token(f.appSecret), RedirectURI: f.callbackURL, BaseURL: f.url}
}

// schwabClock is the clock of the Schwab broker and its refresh loop
// (stack.Schwab's Now and Sleep); tests replace it.
var schwabClock = struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}{now: time.Now}
