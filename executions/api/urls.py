"""Routes of the executions API (no trailing slashes; literal routes before {id} routes)."""

from django.urls import path

from executions.api import approvals, executions, traces

urlpatterns = [
    path("executions", executions.ExecutionListView.as_view()),
    path("executions/approval-inbox", executions.ApprovalInboxView.as_view()),
    path("executions/<str:execution_id>", executions.ExecutionDetailView.as_view()),
    path("executions/<str:execution_id>/tree", executions.ExecutionTreeView.as_view()),
    path("executions/<str:execution_id>/cancel", executions.ExecutionCancelView.as_view()),
    path("executions/<str:execution_id>/stream", executions.execution_stream),
    path("executions/<str:execution_id>/approve", executions.ExecutionDecisionView.as_view()),
    path("executions/<str:execution_id>/deny", executions.ExecutionDenyView.as_view()),
    path("agents/<str:agent_id>/execute", executions.agent_execute),
    path("traces", traces.TraceListView.as_view()),
    path("traces/summary", traces.TraceSummaryView.as_view()),
    path("traces/<str:trace_id>", traces.TraceDetailView.as_view()),
]

# the v1 approval routes, included after the other apps' routes (their order in the docs)
approval_urlpatterns = [
    path("approvals", approvals.ApprovalListView.as_view()),
    path("approvals/<str:approval_id>", approvals.ApprovalDetailView.as_view()),
    path("approvals/<str:approval_id>/decide", approvals.ApprovalDecideView.as_view()),
]
