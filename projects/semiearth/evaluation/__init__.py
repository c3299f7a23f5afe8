from .boundary import DILATION_RATIO, boundary_band, boundary_width, class_boundaries
from .boundary_iou_metric import BoundaryIoUMetric, boundary_areas
from .class_wise_iou_metric import ClassWiseIoUMetric

__all__ = ['BoundaryIoUMetric', 'ClassWiseIoUMetric', 'DILATION_RATIO', 'boundary_areas',
           'boundary_band', 'boundary_width', 'class_boundaries']
