// Package ec2query is hostd's EC2 front end: EC2's Query protocol, as botocore's "ec2" protocol
// and the AWS SDKs speak it, translated to and from the core's operations. It parses wire formats
// and nothing else: it holds no state, checks no signature and evaluates no policy itself; the
// daemon's operations do the work, so the native API and this one see the same state and the
// same errors (issue 13, "one core, two front ends").
//
// # The protocol
//
//   - Requests: POST / with an application/x-www-form-urlencoded body, or GET /?Action=…;
//     Action=NAME&Version=2016-11-15 and the action's members, named as the model names them
//     for the ec2 protocol (queryName, else locationName with its first letter capitalised, else
//     the member name), lists numbered from 1 with no ".member." (Filter.1.Value.2,
//     SecurityGroupId.1, IpPermissions.1.Groups.1.GroupId, TagSpecification.1.Tag.1.Key).
//     [ReadBody], [ParseParameters] and [Decode] read them, bounded ([MaxBodyBytes],
//     [MaxParameters], [MaxKeyLength], [MaxListIndex]), and refuse with EC2's codes:
//     UnknownParameter (not in the model), InvalidParameter (in the model, not in hostd: the
//     field is [Unsupported]), MissingParameter, InvalidParameterValue.
//   - Answers: <NameResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"> with the requestId
//     first and the output's members under their locationNames, lists as <xSet><item>…</item>,
//     <return>true</return> for actions without output ([EncodeResponse]). Errors:
//     <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response> with
//     EC2's status ([EncodeError], [HTTPStatus]).
//   - Filters ([ParseFilters], [Filters.Match], [TagValues]) with EC2's * ? and \ wildcards;
//     pages ([Pager], [Call.Page]) with sealed NextTokens bound to the caller and the request;
//     DryRun answered by the router once the caller is authorised.
//
// The request and output types (vpcs.go … discovery.go) are named after the shapes of botocore's
// model, and the tests hold them to it: model_test.go checks every name, wire name, type and
// required member against Debian's python3-botocore; roundtrip_test.go runs botocore's own
// serializer and parser over every action; clients_test.go drives every action with boto3 and
// aws-sdk-go-v2, and the common commands with the AWS CLI, against the router with canned
// handlers.
//
// # The router and its hooks
//
// [Router] serves one call in a fixed order, each refusal changing nothing: read the body
// (bounded) → Authenticator (SigV4: hostd/sigv4) → parameters → action (InvalidAction) → decode →
// Authorizer (IAM: hostd/iam, with the [Resource]s the action names) → DryRun (DryRunOperation
// 412, or UnauthorizedOperation 403 from the Authorizer) → the handler → Auditor (the trail:
// hostd/audit; every call, refused ones included, is recorded before it is answered, and a record
// that cannot be kept turns the answer into InternalError) → the answer. Internal errors reach
// the client as InternalError with the request id only; the log has the rest.
//
// # The handlers
//
// The actions are answered by hostd/ec2api, which registers a handler for each on a Router and
// translates to and from the core's operations (its Core interface, DaemonCore over the
// daemon). Its package documentation says what each action calls and what hostd does not keep.
package ec2query
