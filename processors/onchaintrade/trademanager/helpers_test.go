package trademanager

import "github.com/hedgeline/hedgeline/internal/stagetest"

var (
	t0            = stagetest.T0
	d             = stagetest.D
	eventIn       = stagetest.EventIn
	decodeCommand = stagetest.DecodeCommand
)
