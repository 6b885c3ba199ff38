package offchainorder

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/shopspring/decimal"
)

// checkOrder validates what Place, Placed, Migrate and Migrated share.
func checkOrder(sym market.Symbol, shares decimal.Decimal, dir market.Direction, broker market.Broker) error {
	var errs []error
	if _, err := market.NewSymbol(string(sym)); err != nil {
		errs = append(errs, fieldErr("symbol", err))
	}
	errs = append(errs, fieldErr("shares", market.PositiveAmount("shares", shares)))
	if !dir.Valid() {
		errs = append(errs, fieldErr("direction", fmt.Errorf("%q is not Buy or Sell", dir)))
	}
	if b, err := market.ParseBroker(string(broker)); err != nil || b != broker {
		errs = append(errs, fieldErr("broker", fmt.Errorf("%q is not schwab, alpaca or dry_run", broker)))
	}
	return errors.Join(errs...)
}

// checkText requires a non-blank value without surrounding spaces.
func checkText(field, v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return fieldErr(field, errors.New("must not be empty"))
	case strings.TrimSpace(v) != v:
		return fieldErr(field, errors.New("must not have leading or trailing spaces"))
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return fieldErr(field, errors.New("must be set"))
	}
	return nil
}

func checkPrice(field string, v decimal.Decimal) error {
	return fieldErr(field, market.PositiveAmount(field, v))
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
