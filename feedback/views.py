"""Web pages for search sessions: results with judgement toggles, refine, earlier iterations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cbir_site.errors import ApplicationError, InvalidInputError, NotFoundError
from cbir_site.pagination import PastEnd, page_of
from cbir_site.throttling import throttled
from feedback import selectors, services
from feedback.forms import RefineForm
from feedback.history import history_entry_delete, history_of, history_thumbnails
from feedback.viewer import viewer_items
from search.config import search_config
from search.example_store import example_available
from search.fallback import closest_notice
from search.match import MatchScale
from search.request import Mode
from search.result_filters import filter_form, filter_pairs, filters_given
from search.wording import page_links, unchecked_galleries


def _session(request: HttpRequest, session_id: str):  # type: ignore[no-untyped-def]
    try:
        return services.session_get(user=request.user, session_id=session_id)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc


@login_required
def session_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session(request, session_id)
    number = request.GET.get("iteration")
    try:
        iteration = services.iteration_get(session, int(number) if number else None)
    except (NotFoundError, ValueError) as exc:
        raise Http404("No such iteration.") from exc
    # Result filters (?gallery=&uploaded_after=&...&sort=) narrow and order the ranking.
    filters = filter_form(user=request.user, data=request.GET, within=session.gallery_ids)
    wanted = request.GET if filters.is_bound and filters.is_valid() else None
    everything = selectors.iteration_results(request.user, iteration)
    # Nothing passed the cutoff: the closest results, shown below a divider.
    every_closest = [] if everything else selectors.iteration_closest(request.user, iteration)
    try:
        shown = selectors.iteration_results(request.user, iteration, wanted)
        closest = every_closest and selectors.iteration_closest(request.user, iteration, wanted)
    except InvalidInputError:  # valid form, values the ranking cannot use: show them all
        shown, closest = everything, every_closest
    size = session.params.get("k") or 24
    page = page_of(shown, request.GET.get("page"), size, past_end=PastEnd.LAST)
    on_page = list(page) or closest
    thresholds = iteration.params.get("thresholds", [])
    rows = [*iteration.results, *iteration.params.get("closest", [])]
    # A cutoff search whose galleries all lack a statistic ran as top-k: nothing was checked.
    none_checked = session.mode != Mode.TOPK and iteration.mode == Mode.TOPK
    unchecked = unchecked_galleries(thresholds)
    if none_checked:
        unchecked |= {s.image.gallery.slug for s in on_page}
    return render(
        request,
        "feedback/session.html",
        {
            "session": session,
            "iteration": iteration,
            "iterations": list(session.iterations.values_list("number", "kind")),
            "page": page,
            # Pages stay on their iteration and keep the filters: ?iteration=N&...&page=M.
            "pages": page_links(page, filter_pairs(request.GET), iteration=iteration.number),
            "count": len(shown),
            "unfiltered": len(everything) or len(every_closest),
            "filter_form": filters,
            "filters_open": filters_given(request.GET),
            "closest": closest,
            "notice": closest_notice(closest),
            "marked": len(services.current_judgements(session)),
            "form": RefineForm(initial=services.rocchio_defaults().__dict__),
            "scale": MatchScale.of(score for _, _, score in rows),
            "unchecked": unchecked,
            "none_checked": none_checked,
            "min_images": search_config().threshold_min_images,
            "small_galleries": [t["gallery"] for t in thresholds if t.get("distance") is None],
            "viewer": viewer_items(request.user, [s.image for s in on_page]),
        },
    )


@login_required
@require_POST
@throttled("search")
def session_refine(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session(request, session_id)
    form = RefineForm(request.POST)
    url = reverse("feedback:session", args=[session.pk])
    if not form.is_valid():
        messages.error(request, "Check the refinement settings: " + form.errors.as_text())
        return redirect(url)
    try:
        iteration, _ = services.search_session_refine(
            session=session, user=request.user, **form.refine_arguments()
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(url)
    return redirect(f"{url}?iteration={iteration.number}")


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    """The history: each distinct query once (its latest run), with thumbnails."""
    page = page_of(history_of(request.user), request.GET.get("page"), 30, past_end=PastEnd.LAST)
    thumbnails = history_thumbnails(request.user, list(page))
    rows = [(s, thumbnails.get(s.pk, []), _kept_example(request, s)) for s in page]
    return render(request, "feedback/sessions.html", {"page": page, "rows": rows})


def _kept_example(request: HttpRequest, session) -> str:  # type: ignore[no-untyped-def]
    """The token of the session's uploaded example while this browser still keeps it ('')."""
    token = str(session.params.get("example") or "")
    return token if token and example_available(session=request.session, token=token) else ""


@login_required
@require_POST
def session_delete(request: HttpRequest, session_id: str) -> HttpResponse:
    """Remove a query from the history: every run of it, with its marks."""
    session = _session(request, session_id)
    count = history_entry_delete(user=request.user, session=session)
    what = f"“{session.query_text}”" if session.query_text else "the image search"
    runs = f" ({count} searches)" if count > 1 else ""
    messages.success(request, f"Removed {what} from your history{runs}.")
    return redirect("feedback:sessions")
