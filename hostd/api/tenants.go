package api

// AccountHeader names the account an operator's call acts for (`--account ID`): what it makes
// belongs to that account. Without it the operator acts for OperatorAccount. Only the unix socket
// reads it; the network listener's caller is the signing key's account.
const AccountHeader = "X-Hostd-Account"
