from rest_framework.filters import SearchFilter


class TextSearchFilter(SearchFilter):
    """``?search=``: every word must match one of the view's search fields (case-insensitive).
    NUL characters cannot be stored or searched, so they are dropped."""

    def get_search_terms(self, request):
        return [term.replace("\x00", "") for term in super().get_search_terms(request) if term]
