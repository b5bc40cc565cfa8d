from django.shortcuts import render

from accounts.rules import RuleViolation


class RuleViolationMiddleware:
    """The browser's one place that turns a refused rule into a page with the right status
    (503 with Retry-After during maintenance). The API has its own handler (config.api.errors)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RuleViolation):
            return None
        response = render(
            request,
            "rule_violation.html",
            {"message": exception.message, "code": exception.code},
            status=exception.status,
        )
        for name, value in exception.headers.items():
            response[name] = value
        return response
