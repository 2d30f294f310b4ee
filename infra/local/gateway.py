"""The local API Gateway: HTTP request -> REST proxy event -> the route's function -> HTTP response."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from werkzeug.datastructures import Headers
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from infra.definitions import ROUTES, Route
from infra.local.auth import TokenIssuer, authorize
from infra.local.emulator import ACCOUNT_ID
from infra.local.errors import LocalError, error_body
from infra.local.invocation import FunctionRegistry
from infra.local.settings import AuthMode

log = logging.getLogger(__name__)
access_log = logging.getLogger("infra.local.access")

MAX_BODY_BYTES = 1024 * 1024  # ours, not API Gateway's 10 MB: nothing here needs more
_DRAIN_LIMIT_BYTES = 16 * 1024 * 1024  # read (and drop) at most this much of a refused body
STAGE = "local"


@dataclass(frozen=True)
class LocalRoute:
    """A route served by the local stack itself (/_local/...), not by a function."""

    method: str
    path: str
    name: str


class LocalControl(Protocol):
    routes: Sequence[LocalRoute]

    def handle(self, name: str, params: Mapping[str, str], body: bytes) -> tuple[int, Any]: ...


def _werkzeug_path(template: str) -> str:
    # API Gateway's {param} matches one path segment, like werkzeug's default converter.
    return template.replace("{", "<").replace("}", ">")


def build_proxy_event(
    *,
    resource: str,
    path: str,
    method: str,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]] = (),
    path_parameters: Mapping[str, str] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
    host: str = "127.0.0.1:3000",
    request_id: str | None = None,
    now: datetime | None = None,
    identity: Mapping[str, Any] | None = None,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as API Gateway sends it to Lambda."""
    request_id = request_id or str(uuid.uuid4())
    now = now or datetime.now(UTC)
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value  # API Gateway keeps the last value in `headers`
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)

    event_body: str | None
    is_base64 = False
    if not body:
        event_body = None
    else:
        try:
            event_body = body.decode("utf-8")
        except UnicodeDecodeError:
            event_body, is_base64 = base64.b64encode(body).decode("ascii"), True

    request_identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": single_headers.get("User-Agent"),
        "user": None,
    }
    request_identity.update(identity or {})
    request_context: dict[str, Any] = {
        "resourceId": hashlib.sha1(f"{method} {resource}".encode()).hexdigest()[:6],
        "resourcePath": resource,
        "httpMethod": method,
        "extendedRequestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "path": f"/{STAGE}{path}",  # as on the execute-api domain, which prefixes the stage
        "accountId": ACCOUNT_ID,
        "protocol": "HTTP/1.1",
        "stage": STAGE,
        "domainPrefix": host.split(".")[0].split(":")[0],
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "requestId": request_id,
        "identity": request_identity,
        "domainName": host,
        "apiId": "local",
    }
    if authorizer is not None:
        request_context["authorizer"] = dict(authorizer)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": event_body,
        "isBase64Encoded": is_base64,
    }


class BadProxyResponse(Exception):
    """The function answered something API Gateway could not turn into HTTP (it answers 502)."""


def proxy_response(result: Any) -> Response:
    """Turn a Lambda proxy integration result into an HTTP response."""
    if not isinstance(result, dict) or "statusCode" not in result:
        raise BadProxyResponse(f"not a proxy response: {type(result).__name__}")
    try:
        status = int(result["statusCode"])
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise BadProxyResponse(str(error)) from error
    headers = Headers()
    multi: Mapping[str, Sequence[Any]] = result.get("multiValueHeaders") or {}
    in_multi = {name.lower() for name in multi}
    # When a header is in both maps API Gateway sends the multi-value one.
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in in_multi:
            headers.add(name, str(value))
    for name, values in multi.items():
        for value in values:
            headers.add(name, str(value))
    response = Response(data, status=status, headers=headers)
    if "Content-Type" not in headers:  # API Gateway's default; werkzeug's would be text/plain
        response.headers["Content-Type"] = "application/json"
    return response


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(json.dumps(payload, default=str), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class Gateway:
    """A WSGI app serving definitions.ROUTES with the functions and /_local/* with the control."""

    def __init__(
        self,
        registry: FunctionRegistry,
        issuer: TokenIssuer,
        auth_mode: AuthMode = "local",
        control: LocalControl | None = None,
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        self._registry = registry
        self._issuer = issuer
        self._auth_mode: AuthMode = auth_mode
        self._control = control
        rules = [Rule(_werkzeug_path(r.path), methods=[r.method], endpoint=r) for r in routes]
        if control is not None:
            rules += [Rule(_werkzeug_path(r.path), methods=[r.method], endpoint=r) for r in control.routes]
        self._map = Map(rules, strict_slashes=False, merge_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request_id = str(uuid.uuid4())
        try:
            response = self.dispatch(request, request_id)
        except LocalError as error:
            response = json_response(error.status, error.body())
            if error.status == 413:
                response.headers["Connection"] = "close"  # the rest of a huge body is not worth reading
        except Exception:
            log.exception("the local gateway failed on %s %s", request.method, request.path)
            response = json_response(500, error_body("internal_error", "The local stack failed; see its log"))
        response.headers.setdefault("x-amzn-RequestId", request_id)
        return response(environ, start_response)

    def dispatch(self, request: Request, request_id: str) -> Response:
        # Read the body first, even for a request we refuse: what stays unread breaks keep-alive.
        body = _read_body(request)
        endpoint, params = self._match(request)
        if isinstance(endpoint, LocalRoute):
            assert self._control is not None
            status, payload = self._control.handle(endpoint.name, params, body)
            return json_response(status, payload)

        route: Route = endpoint
        authorization = authorize(route.auth, dict(request.headers.items()), self._auth_mode, self._issuer)
        event = build_proxy_event(
            resource=route.path,
            path=request.path,
            method=request.method,
            headers=list(request.headers.items()),
            query=list(request.args.items(multi=True)),
            path_parameters=params,
            body=body,
            source_ip=request.remote_addr or "127.0.0.1",
            host=request.host,
            request_id=request_id,
            identity=authorization.identity,
            authorizer=authorization.authorizer,
        )
        try:
            result = self._registry.invoke(route.function, event)
            return proxy_response(result)
        except Exception:
            # API Gateway answers 502 for a failed or malformed integration; the traceback goes to the log.
            log.exception("function %s failed on %s %s", route.function, request.method, request.path)
            raise LocalError(502, "internal_error", "The function failed; see the local stack's log") from None

    def _match(self, request: Request) -> tuple[Route | LocalRoute, dict[str, str]]:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            endpoint, params = adapter.match(method=request.method)
            endpoint = cast(Route | LocalRoute, endpoint)
        except MethodNotAllowed as error:
            allowed = sorted(m for m in (error.valid_methods or []) if m != "HEAD")
            raise LocalError(
                405, "method_not_allowed", f"{request.method} is not allowed on {request.path}", {"allowed": allowed}
            ) from None
        except (NotFound, RequestRedirect):
            raise LocalError(404, "not_found", f"No route for {request.method} {request.path}") from None
        if request.method != endpoint.method:  # werkzeug lets HEAD through to GET rules; API Gateway does not
            raise LocalError(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}")
        return endpoint, dict(params)


def _read_body(request: Request) -> bytes:
    """The request body, at most MAX_BODY_BYTES; a larger one is read off the socket and refused."""
    stream = request.stream
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        data = b""
    else:
        data = stream.read(MAX_BODY_BYTES + 1)
        if len(data) <= MAX_BODY_BYTES:
            return data
    # Drain what the client is still sending so it reads our 413 instead of a reset connection.
    drained = len(data)
    while drained < _DRAIN_LIMIT_BYTES and (chunk := stream.read(64 * 1024)):
        drained += len(chunk)
    raise LocalError(
        413, "payload_too_large", f"The body is larger than {MAX_BODY_BYTES} bytes", {"limit": MAX_BODY_BYTES}
    )


class _AccessLogHandler(WSGIRequestHandler):
    """One plain access line per request on our logger (werkzeug's own logger is silenced)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        access_log.info('"%s" %s %s', self.requestline, getattr(code, "value", code), size)

    def log(self, type: str, message: str, *args: Any) -> None:
        getattr(access_log, type if type in ("info", "warning", "error") else "info")(message, *args)


class GatewayServer:
    """The gateway on a loopback port, served from a background thread."""

    def __init__(self, app: Gateway, host: str = "127.0.0.1", port: int = 3000) -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=_AccessLogHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
