package api

import "github.com/hostd/hostd/hostd/findings"

// ListFindingsResponse is what `finding list` prints, oldest first.
type ListFindingsResponse struct {
	Findings []findings.Finding `json:"Findings"`
}
