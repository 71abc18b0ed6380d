package account

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewAccessKeyShape(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, secret := NewAccessKey()
		require.True(t, ValidAccessKeyID(id), id)
		require.Len(t, secret, 40)
		for _, c := range secret {
			require.Contains(t, secretAlphabet, string(c))
		}
		require.False(t, seen[id], "access key id drawn twice")
		seen[id] = true
	}
}

// Every character of the alphabets turns up, and none far more often than the others: the draw
// is uniform, not skewed by a modulo.
func TestRandomStringIsUniform(t *testing.T) {
	counts := map[rune]int{}
	const n = 36 * 2000
	for _, c := range randomString(idAlphabet, n) {
		counts[c]++
	}
	require.Len(t, counts, len(idAlphabet))
	for c, k := range counts {
		assert.InDelta(t, 2000, k, 300, "character %q", c)
	}
}

func TestNewAccountID(t *testing.T) {
	for range 1000 {
		require.True(t, ValidAccountID(NewAccountID()))
	}
}

func TestValidators(t *testing.T) {
	assert.False(t, ValidAccountID("12345678901"))
	assert.False(t, ValidAccountID("12345678901a"))
	assert.False(t, ValidAccessKeyID("AKIAabcdefghijklmnop"))
	assert.False(t, ValidAccessKeyID("ASIA0123456789ABCDEF"))
	assert.True(t, ValidAccessKeyID("AKIA0123456789ABCDEF"))
	assert.True(t, ValidUserName("alice.smith@example+ops"))
	assert.False(t, ValidUserName(""))
	assert.False(t, ValidUserName("a/b"))
	assert.False(t, ValidUserName(strings.Repeat("a", 65)))
}

func TestIdentityARN(t *testing.T) {
	id := Identity{AccountID: "123456789012", UserName: "alice", AccessKeyID: "AKIA0123456789ABCDEF"}
	assert.Equal(t, "arn:aws:iam::123456789012:user/alice", id.ARN())
}

func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := NewSealer(key)
	require.NoError(t, err)
	secret := []byte("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	sealed := s.Seal("AKIA0000000000000001", secret)
	assert.NotContains(t, string(sealed), string(secret))
	assert.NotEqual(t, sealed, s.Seal("AKIA0000000000000001", secret), "a fresh nonce each time")

	got, err := s.Open("AKIA0000000000000001", sealed)
	require.NoError(t, err)
	assert.Equal(t, secret, got)

	// Bound to its key id: a sealed secret moved onto another key does not open.
	_, err = s.Open("AKIA0000000000000002", sealed)
	assert.ErrorIs(t, err, ErrUnseal)
	// Nor under another master key, nor damaged, nor truncated.
	other, err := NewSealer(bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	_, err = other.Open("AKIA0000000000000001", sealed)
	assert.ErrorIs(t, err, ErrUnseal)
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		_, err = s.Open("AKIA0000000000000001", bad)
		assert.ErrorIs(t, err, ErrUnseal, "byte %d flipped", i)
	}
	_, err = s.Open("AKIA0000000000000001", sealed[:10])
	assert.ErrorIs(t, err, ErrUnseal)

	_, err = NewSealer(key[:16])
	assert.Error(t, err)
}
