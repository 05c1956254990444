package config

import (
	"github.com/alicom-drain/alicom-drain/internal/drain"
)

// drainDefaults are the drain's defaults, which the DRAIN_* variables default to: said once,
// in drain.DefaultOptions.
var drainDefaults = drain.DefaultOptions()

// DrainOptions returns the drain options the DRAIN_* variables describe, with the drain's
// defaults for what no variable sets. The caller adds the Logger.
func (c Config) DrainOptions() drain.Options {
	o := drain.DefaultOptions()
	o.Mode = c.DrainMode
	o.Receivers = c.Receivers
	o.BatchSize = c.BatchSize
	o.Wait = c.Wait
	o.MaxMessages = c.MaxMessages
	o.MaxDuration = c.MaxDuration
	o.DeadlineMargin = c.DeadlineMargin
	o.HandlerTimeout = c.HandlerTimeout
	return o
}

func (l *loader) mode(name string) drain.Mode {
	v := l.get(name)
	if v == "" {
		return drainDefaults.Mode
	}
	if m := drain.Mode(v); m.Valid() {
		return m
	}
	l.fail(name, "%q is not valid: expected %s or %s", v, drain.ModeDrain, drain.ModeFollow)
	return drainDefaults.Mode
}
