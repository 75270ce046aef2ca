package splice

import "testing"

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{ReasonUnknown, "unknown"},
		{ClientClosed, "client closed"},
		{BackendClosed, "backend closed"},
		{IdleTimeout, "idle timeout"},
		{HalfCloseTimeout, "half-close timeout"},
		{ClientError, "client error"},
		{BackendError, "backend error"},
		{Aborted, "aborted"},
		{Aborted + 1, "Reason(8)"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(tc.r), got, tc.want)
		}
	}
}
