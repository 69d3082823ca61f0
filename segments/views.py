from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from config import access
from segments import selectors
from segments.models import Profile

PAGE_SIZE = 50


@access.marketer_required
def profile_list(request):
    query = request.GET.get("q", "").strip()[:256]
    page = Paginator(selectors.profile_search(query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page_obj": page, "profiles": page.object_list, "q": query}
    template = "segments/profile_list.html"
    if request.htmx:
        template += "#profile-table"
    return render(request, template, context)


@access.marketer_required
def profile_detail(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    events = selectors.profile_recent_events(profile=profile)
    return render(request, "segments/profile_detail.html", {"profile": profile, "events": events})
