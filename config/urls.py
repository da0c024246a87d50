from django.contrib import admin
from django.urls import path

from catalog.demo.views import demo_image
from config.health import healthz
from vectors.api import api
from vectors.views import metrics

admin.site.site_header = "Fashion catalog"
admin.site.site_title = "Fashion catalog"
admin.site.index_title = "Catalog administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/", api.urls),
    path("demo/images/<str:name>.svg", demo_image, name="demo-image"),
]
