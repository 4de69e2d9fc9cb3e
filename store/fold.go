package store

// DisposalSummary stands for the disposal records of one camera and one UTC day.
type DisposalSummary struct{}

var bktDisposalDays = []byte("disposal_days")
