package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// opaLogger writes OPA's own logs (bundle downloads and activations, plugin status, print() output of
// policies, console decision logs) to the engine's zap logger. Its level is zap's: SetLevel does
// nothing, the host owns logging configuration.
type opaLogger struct {
	z *zap.Logger
}

func (l opaLogger) log(level zapcore.Level, format string, args []any) {
	if ce := l.z.Check(level, ""); ce != nil {
		ce.Message = fmt.Sprintf(format, args...)
		ce.Write()
	}
}

func (l opaLogger) Debug(format string, args ...any) { l.log(zapcore.DebugLevel, format, args) }
func (l opaLogger) Info(format string, args ...any)  { l.log(zapcore.InfoLevel, format, args) }
func (l opaLogger) Warn(format string, args ...any)  { l.log(zapcore.WarnLevel, format, args) }
func (l opaLogger) Error(format string, args ...any) { l.log(zapcore.ErrorLevel, format, args) }

func (l opaLogger) WithFields(fields map[string]any) logging.Logger {
	zf := make([]zap.Field, 0, len(fields))
	for k, v := range fields {
		zf = append(zf, zap.Any(k, v))
	}
	return opaLogger{l.z.With(zf...)}
}

func (l opaLogger) GetLevel() logging.Level {
	switch {
	case l.z.Core().Enabled(zapcore.DebugLevel):
		return logging.Debug
	case l.z.Core().Enabled(zapcore.InfoLevel):
		return logging.Info
	case l.z.Core().Enabled(zapcore.WarnLevel):
		return logging.Warn
	}
	return logging.Error
}

func (opaLogger) SetLevel(logging.Level) {}

var _ logging.Logger = opaLogger{}
